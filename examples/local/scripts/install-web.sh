#!/bin/sh
# Installs busybox's httpd as a systemd service serving /srv/www. kiln's
# Debian base image has busybox; elsewhere (a cloud image) it is installed.
set -eu

if ! command -v busybox >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox
fi

install -d -m 0755 /srv/www
install -m 0644 /tmp/index.html /srv/www/index.html
rm -f /tmp/index.html
echo "${WEB_VERSION}" > /srv/www/version

cat > /etc/systemd/system/web.service <<UNIT
[Unit]
Description=Static web server (busybox httpd)
After=network.target

[Service]
ExecStart=/bin/busybox httpd -f -p ${WEB_PORT} -h /srv/www
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT

systemctl enable web.service
echo "web ${WEB_VERSION} installed on port ${WEB_PORT}"
