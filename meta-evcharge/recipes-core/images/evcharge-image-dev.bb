SUMMARY = "evcharge development image"
DESCRIPTION = "The production image plus SSH, debug tools, the simulated board and \
               the SIL runner: for development, CI (testimage) and bring-up. Never ship it."
SECTION = "images"
LICENSE = "MIT"

# Writable root, root login without password over SSH, package management for quick
# iterations (opkg install of a rebuilt python3-evcharge-*).
# nooelint: oelint.var.badimagefeature.allow-empty-password,oelint.var.badimagefeature.allow-root-login,oelint.var.badimagefeature.empty-root-password,oelint.var.badimagefeature.post-install-logging,oelint.var.badimagefeature.tools-debug - development image by design, never shipped
IMAGE_FEATURES = "\
    allow-empty-password \
    allow-root-login \
    empty-root-password \
    package-management \
    post-install-logging \
    ssh-server-openssh \
    tools-debug \
"

require evcharge-image.inc

IMAGE_INSTALL += "\
    dbus-tools \
    packagegroup-evcharge-sim \
    python3-modules \
    python3-pip \
    strace \
"

# Debug tools do not fit the production slot size; development disks are updated with
# development bundles only (kas/opt/dev.yml gives them their own RAUC compatible).
EVCHARGE_SLOT_SIZE_MB = "1536"
