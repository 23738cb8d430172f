# At least one router block.  # ERROR: No router block
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
