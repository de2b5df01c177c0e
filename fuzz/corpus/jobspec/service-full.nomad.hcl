# A service using most of the job specification: placement rules, rolling updates,
# networking, services with checks, volumes, templates, artifacts and lifecycle hooks.
variable "version" {
  type    = string
  default = "1.4.2"
}

locals {
  image_tag = "shop-${var.version}"
}

job "shop" {
  datacenters = ["eu-*"]
  priority    = 70

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  affinity {
    attribute = "${node.class}"
    value     = "fast"
    weight    = 40
  }

  spread {
    attribute = "${node.datacenter}"
  }

  update {
    max_parallel     = 2
    min_healthy_time = "15s"
    auto_revert      = true
  }

  group "api" {
    count = 3

    network {
      port "http" {
        to = 8080
      }
    }

    service {
      name     = "shop-api"
      port     = "http"
      provider = "nomad"
      tags     = [local.image_tag]

      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    volume "uploads" {
      type   = "host"
      source = "shop-uploads"
    }

    restart {
      attempts = 3
      delay    = "10s"
    }

    task "migrate" {
      driver = "exec"

      lifecycle {
        hook = "prestart"
      }

      config {
        command = "/usr/local/bin/shop"
        args    = ["migrate"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }

    task "server" {
      driver = "exec"

      config {
        command = "/usr/local/bin/shop"
        args    = ["serve", "--port", "${NOMAD_PORT_http}"]
      }

      artifact {
        source      = "https://releases.example.com/shop/${var.version}/shop.tar.gz"
        destination = "local/"
      }

      template {
        data        = "listen = {{ env \"NOMAD_PORT_http\" }}\n"
        destination = "local/shop.toml"
      }

      volume_mount {
        volume      = "uploads"
        destination = "/srv/uploads"
      }

      env {
        SHOP_VERSION = var.version
      }

      resources {
        cpu        = 500
        memory     = 256
        memory_max = 512
      }

      kill_timeout = "20s"
    }
  }
}
