package main

// secretsInSandboxVar names the operator's opt-in to today's substitution
// of unbound secrets into sandboxed code (where masking outputs is all that
// protects them).
const secretsInSandboxVar = "BULWARK_SECRETS_IN_SANDBOX"

// secretsInSandbox reads BULWARK_SECRETS_IN_SANDBOX: on or off (the
// default); anything else is an error, so a typo cannot weaken it.
func secretsInSandbox() (bool, error) { return onOff(secretsInSandboxVar, false) }

// secretsInSandboxWarning is printed at start when the opt-in is on.
const secretsInSandboxWarning = "bulwark: WARNING: " + secretsInSandboxVar + "=on: secrets not bound to hosts are put into sandboxed code, which can print, write or transform them; outputs and downloaded files are masked, but masking cannot catch every transformation. Bind secrets to hosts (bulwark secrets set NAME --hosts ...) and turn this off."
