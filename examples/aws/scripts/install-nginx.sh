#!/bin/sh
# Installs nginx with the site uploaded to /tmp/site.conf.
set -eu

apt-get update -q
apt-get install -y -q --no-install-recommends nginx
install -m 0644 /tmp/site.conf /etc/nginx/sites-available/default
rm -f /tmp/site.conf
echo "${APP_VERSION}" > /var/www/html/version
systemctl enable nginx
nginx -t
