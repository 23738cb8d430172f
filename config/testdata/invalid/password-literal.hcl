# MODE: 0644 -- a literal password in a world-readable file.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = "hunter2" # ERROR: Password in a file readable by other users
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
