# Credentials in a URL are refused, and masked wherever they are shown
# (TestTestdataSecretsMasked: "hunter2" is never printed).
router "edge" {
  url          = "https://wanctl:hunter2@192.168.88.1" # ERROR: Credentials in the router URL
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

router "core" {
  url          = "ftp://wanctl:hunter2@10.0.0.1" # ERROR: Invalid router URL
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"
  router    = "edge"

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
