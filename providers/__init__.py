"""orglink's Pulumi dynamic providers; the layout is described in docs/design.md."""

from providers import legacy

legacy.install()
