"""The Falcon HTTP API and the composition root. It arrives with the HTTP issue; the package
exists now so the import rules that keep it the outermost layer are checked from day one."""
