"""`make contract`: proves orglink against two orgs a user names (or the emulator's).

Read-only facts first, then the lifecycle of seed 000's integration on a throwaway stack, then a
sweep that leaves nothing behind; the report goes to contract-report.md and contract-report.json.
See docs/contract.md.
"""
