"""The rules of each Metadata API component type, one module per family of types.

`base` holds what rules are made of (TypeRules, Call, ComponentError) and the checks several
types share; `connected_app`, `eca`, `certificate` and `credentials` each end with their
`RULES` (type name -> TypeRules: file location, Id prefix, hooks, write-only fields).
emulator.metadata_api joins them into `TYPES` and answers the SOAP calls.
"""
