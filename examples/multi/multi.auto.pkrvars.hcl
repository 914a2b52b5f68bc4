environment = "staging"
features    = ["metrics"]
