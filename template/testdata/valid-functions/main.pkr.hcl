variable "home" {
  default = env("KILN_TEST_HOME")
}

locals {
  stamp       = timestamp()
  stamp_again = timestamp()
  day         = formatdate("YYYY-MM-DD", local.stamp)
  later       = timeadd(local.stamp, "1h")
  id          = uuidv4()
  hello       = chomp(file("${path.root}/files/hello.txt"))
  scripts     = sort(fileset("${path.root}/files", "**/*.sh"))
  greeting    = templatefile("${path.root}/files/greeting.tpl", { name = "kiln", items = ["a", "b"] })
  json        = jsonencode({ a = 1 })
  decoded     = jsondecode("{\"b\": [1, 2]}")
  yaml        = yamldecode("k: v")
  yaml_text   = yamlencode({ k = "v" })
  b64         = base64encode("kiln")
  plain       = base64decode(local.b64)
  abs         = abspath(path.root)
  base        = basename("/a/b/c.txt")
  dir         = dirname("/a/b/c.txt")
  upper       = upper("x")
  joined      = join(",", ["a", "b"])
  regex       = regex("[0-9]+", "ami-123")
  replaced    = replace("a-b", "-", "_")
  fallback    = try(local.decoded.missing, "fallback")
  can_parse   = can(jsondecode("{"))
  cond        = length(local.scripts) > 1 ? "many" : "few"
  number      = max(1, 5, 3) + parseint("ff", 16)
  sha         = sha256("kiln")
  version     = packer.version
  cwd         = path.cwd
  home        = var.home
  exists      = fileexists("${path.root}/files/hello.txt")
  not_exists  = fileexists("${path.root}/files/nothing")
  hello_b64   = filebase64("${path.root}/files/hello.txt")
  legacy_day  = legacy_isotime("2006-01-02")
  md5         = md5("kiln")
  contains    = strcontains("kiln", "il") && startswith("kiln", "ki") && endswith("kiln", "ln")
  tilde       = pathexpand("/abs")
  chars       = length("kiln")
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}
