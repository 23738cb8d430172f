# env() of an unset variable names it.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_TEST_UNSET") # ERROR: Environment variable WANCTL_TEST_UNSET is not set
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
