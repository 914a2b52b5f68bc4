packer {
  required_version = ">= 1.12.0"
}

locals {
  version     = packer.version
  iteration   = packer.iterationID
  fingerprint = packer.versionFingerprint
  attrs       = length({ a = 1, b = "two", c = [3] })
  subnets     = cidrsubnets("10.0.0.0/16", 8, 8)
  host        = cidrhost(local.subnets[1], 5)
  position    = index(["a", "b", "c"], "c")
  total       = sum([1, 2, 3.5])
  all_up      = alltrue([true, local.total > 6])
  any_up      = anytrue([false, local.position == 2])
  port        = convert("8080", number)
  utf16       = textencodebase64("kiln", "UTF-16LE")
  query       = urlencode("a b&c")
  id          = uuidv5("dns", "kiln.example")
  year        = rfc3339_parse(timestamp()).year
  epoch_day   = unix_timestamp_parse(86400).day
  stamp       = legacy_strftime("%Y%m%d")
}

source "null" "x" {
  communicator = "none"
}

build {
  name    = "b-${local.stamp}"
  sources = ["source.null.x"]
}
