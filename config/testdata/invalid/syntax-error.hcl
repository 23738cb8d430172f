# A file that does not parse stops at the syntax error.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway = = "100.64.0.1" # ERROR: Invalid expression
}
