"""A handler module whose import fails: the runtime reports it as an init error."""

raise RuntimeError("the module cannot be imported: no configuration")
