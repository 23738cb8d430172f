# overhead -64..256, mpu 0..256, rtt > 0.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
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

    cake {
      overhead = 300 # ERROR: overhead out of range
      mpu      = -1 # ERROR: mpu out of range
      rtt      = "0s" # ERROR: rtt must be positive
    }
  }

  upload {
    ceiling = "10M"
  }
}
