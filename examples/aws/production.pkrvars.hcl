region        = "eu-west-1"
ami_regions   = ["eu-central-1", "us-east-1"]
instance_type = "t3.small"
app_version   = "1.4.2"
team          = "web"
