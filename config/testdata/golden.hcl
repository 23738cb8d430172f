# Decodes to the Config in golden_test.go: one WAN with every
# default, one with every attribute given.
router "edge" {
  url          = "https://192.168.88.1/"
  username     = "wanctl"
  password     = file("secrets/router-password")
  host_address = "192.168.88.10"
}

router "lab" {
  url                = "http://127.0.0.1:8080"
  username           = "admin"
  password           = "${env("WANCTL_ROUTER_PASSWORD")}-suffix"
  timeout            = "500ms"
  adopt_existing     = true
  lan_interface_list = "LAN-lab"
  allow_fasttrack    = true
}

daemon {
  state_dir = "state"
  lock_dir  = "/run/wanctl-test"
  interval  = "20ms"
  listen    = "[::1]:9200"
}

wan "cable" {
  router    = "edge"
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
  }

  download {
    ceiling = "940M"
  }

  upload {
    ceiling = 38000000

    floor {
      red = "25M"
    }
  }
}

wan "dsl" {
  router    = "edge"
  interface = "pppoe-out1"
  gateway   = "pppoe-out1"

  measurement {
    reflectors   = ["9.9.9.9"]
    ping_rate    = 10
    tcp_fallback = ["9.9.9.9:443", "[2620:fe::fe]:443"]
    source       = "192.168.88.10"
    pin_routes   = false
    timestamps   = true
  }

  download {
    queue              = "dsl-in"
    queue_type         = "cake-dsl-in"
    parent             = "bridge"
    ceiling            = "15.5M"
    step_up            = "250k"
    factor_down        = 0.8
    factor_down_yellow = 0.95

    floor {
      yellow = "2M"
    }

    cake {
      diffserv        = "besteffort"
      flowmode        = "dual-dsthost"
      nat             = false
      wash            = true
      ack_filter      = "aggressive"
      overhead        = -4
      mpu             = 68
      rtt             = "50ms"
      atm             = "ptm"
      overhead_scheme = ["conservative", "pppoe-ptm"]
    }
  }

  upload {
    queue   = "dsl-out"
    ceiling = "1M"

    floor {
      green = "300k"
    }

    cake {
      ack_filter = "none"
    }
  }

  thresholds {
    target_bloat                = "20ms"
    refractory                  = "500ms"
    warn_bloat                  = "60ms"
    hard_red_bloat              = "60ms"
    baseline_time_constant      = "30s"
    load_time_constant          = "100ms"
    baseline_update_threshold   = "2ms"
    baseline_rise_time_constant = "10m"
    green_required              = 10
    dwell_cycles                = 1
    deadband                    = "0s"
  }

  router_writes {
    min_change        = 0
    increase_interval = "0s"
    writes_per_minute = 600
    burst             = 30
  }
}

steering {
  primary   = "cable"
  alternate = "dsl"

  rule "voip" {
    protocol  = "udplite"
    dst_ports = "5060, 3478-3481"
  }

  rule "marked" {
    dscp = ["ef", 34, "CS1", "0"]
  }

  rule "office" {
    src_address_list = "work"
    dst_address      = "10.0.0.0/8"
    src_address      = "192.168.88.0/24"
    src_ports        = 1024
    protocol         = "6"
  }

  rule "external" {
    dst_address_list = "managed-elsewhere"
  }

  address_list "work" {
    addresses = ["192.168.88.50", "192.168.89.0/24"]
  }

  address_list "wanctl-not-steered" {
    addresses = ["203.0.113.0/24"]
  }

  thresholds {
    rtt_yellow     = "10ms"
    rtt_red        = "25ms"
    rtt_ewma_alpha = 1
    min_drops_red  = 0
    queue_yellow   = 20
    queue_red      = 20
    red_samples    = 3
    green_samples  = 30
    state_max_age  = "10s"
  }
}
