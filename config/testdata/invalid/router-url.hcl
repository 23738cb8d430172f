# The router URL is http(s)://host[:port] without a path.
router "edge" {
  url          = "ftp://192.168.88.1" # ERROR: Invalid router URL
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

router "core" {
  url          = "https://10.0.0.1/rest" # ERROR: Router URL has a path
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
