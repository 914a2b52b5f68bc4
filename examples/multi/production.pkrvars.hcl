environment  = "production"
app_replicas = 3
features     = ["metrics", "tracing"]
