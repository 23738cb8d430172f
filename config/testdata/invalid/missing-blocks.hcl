# measurement, download and upload are required.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" { # ERROR: Missing measurement block # ERROR: Missing download block # ERROR: Missing upload block
  interface = "ether1"
  gateway   = "100.64.0.1"
}
