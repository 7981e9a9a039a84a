# Kernel options evcharge needs on the Raspberry Pi. Only for the evcharge distro
# (override), the RAUC options only with DISTRO_FEATURES "rauc": adding meta-evcharge to
# another build changes no kernel.
FILESEXTRAPATHS:prepend:evcharge := "${THISDIR}/files:"

SRC_URI:append:evcharge = " \
    file://evcharge-board-rpi.cfg \
    ${@bb.utils.contains('DISTRO_FEATURES', 'rauc', 'file://evcharge-rauc.cfg', '', d)} \
"
