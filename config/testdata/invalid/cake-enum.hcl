# CAKE settings take RouterOS's exact values.
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
      diffserv   = "diffserv5" # ERROR: Invalid diffserv
      flowmode   = "triple" # ERROR: Invalid flowmode
      ack_filter = "yes" # ERROR: Invalid ack_filter
      atm        = "vdsl" # ERROR: Invalid atm
    }
  }

  upload {
    ceiling = "10M"
  }
}
