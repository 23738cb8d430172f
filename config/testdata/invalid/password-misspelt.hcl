# A misspelt password attribute: the diagnostics must not show its value
# (TestTestdataSecretsMasked: "hunter2" is never printed).
router "edge" { # ERROR: Missing required argument
  url          = "https://192.168.88.1"
  username     = "wanctl"
  pasword      = "hunter2" # ERROR: Unsupported argument
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
