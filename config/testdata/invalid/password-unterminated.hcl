# A syntax error on the password line: the file does not parse, and the
# snippet must not show the password (TestTestdataSecretsMasked). The
# markers are inside the unterminated string, where the errors are.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  host_address = "192.168.88.10"
  password     = "hunter2 # ERROR: Invalid multi-line string # ERROR: Unterminated template string
} # ERROR: Invalid multi-line string
