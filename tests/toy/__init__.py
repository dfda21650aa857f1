"""A toy model family, to show (and test) that adding a model is one package implementing
`models.interface` plus one line in the families file: no runner, CLI or service change."""
