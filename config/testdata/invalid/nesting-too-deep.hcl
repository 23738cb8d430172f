# Nesting deeper than MaxNesting (64) is refused before the parser runs:
# HCL's parser recurses once per level and 60,000 levels overflowed its
# stack (a fatal error that killed the daemon on SIGHUP).
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
  comment      = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" # text is not nesting
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"
  measurement {
    reflectors = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["1.1.1.1"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] # ERROR: Nesting too deep
  }
}
