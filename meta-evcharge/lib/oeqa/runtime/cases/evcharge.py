#
# SPDX-License-Identifier: Apache-2.0
#
# On-target tests of an evcharge image, run by testimage:
#   kas build kas/machine/qemux86-64.yml:kas/opt/dev.yml:kas/opt/testimage.yml
# (TEST_SUITES there lists "evcharge"). They check what a charger needs after boot:
# every service unit active, every D-Bus name owned by its own service user, and one
# software-in-the-loop charging session driven through evchargectl.

import json
import time

from oeqa.core.decorator.depends import OETestDepends
from oeqa.runtime.case import OERuntimeTestCase
from oeqa.runtime.decorator.package import OEHasPackage

# service -> D-Bus name (docs: conventions.md, "Names")
SERVICES = {
    'board': 'org.evcharge.Board1',
    'evse': 'org.evcharge.Evse1',
    'meter': 'org.evcharge.Meter1',
    'auth': 'org.evcharge.Auth1',
    'energy': 'org.evcharge.Energy1',
    'ocpp': 'org.evcharge.Ocpp1',
    'update': 'org.evcharge.Update1',
}
# v2g, slac and power are left out: without DISTRO_FEATURES evcharge-hlc their units are
# installed (development image) but not enabled.

# Under TCG a cold Python service can take a while to report READY=1.
SETTLE_TIMEOUT_S = 180


class EvchargeTest(OERuntimeTestCase):

    def run_ok(self, cmd, timeout=None):
        status, output = self.target.run(cmd, timeout=timeout)
        self.assertEqual(status, 0, msg='"%s" failed (%d):\n%s' % (cmd, status, output))
        return output

    def installed_services(self):
        """Services whose package is in the image (an image may leave some out)."""
        found = {}
        for svc, bus in SERVICES.items():
            status, _ = self.target.run('test -f /usr/lib/systemd/system/evcharge-%s.service' % svc)
            if status == 0:
                found[svc] = bus
        return found

    def wait_active(self, unit):
        deadline = time.time() + SETTLE_TIMEOUT_S
        while True:
            status, output = self.target.run('systemctl is-active %s' % unit)
            state = output.strip()
            if status == 0 and state == 'active':
                return
            if state == 'failed' or time.time() > deadline:
                _, journal = self.target.run('journalctl -b --no-pager -n 50 -u %s' % unit)
                self.fail('%s is %s, not active; last journal lines:\n%s' % (unit, state, journal))
            time.sleep(5)

    @OETestDepends(['ssh.SSHTest.test_ssh'])
    @OEHasPackage(['python3-evcharge-common'])
    def test_evcharge_units_active(self):
        services = self.installed_services()
        self.assertTrue(services, msg='no evcharge service unit installed')
        self.wait_active('evcharge.target')
        for svc in services:
            self.wait_active('evcharge-%s.service' % svc)
        # nothing of ours may be failed, e.g. a restart loop that is "activating" again
        output = self.run_ok("systemctl list-units --failed --no-legend --plain 'evcharge*'")
        self.assertEqual(output.strip(), '', msg='failed evcharge units:\n%s' % output)

    @OETestDepends(['evcharge.EvchargeTest.test_evcharge_units_active'])
    def test_evcharge_dbus_names(self):
        for svc, bus in self.installed_services().items():
            output = self.run_ok('busctl --system call org.freedesktop.DBus /org/freedesktop/DBus '
                                 'org.freedesktop.DBus NameHasOwner s %s' % bus)
            self.assertEqual(output.strip(), 'b true', msg='%s has no owner' % bus)
            # owned by the service's own user, which the policy file allows and no one else
            owner_uid = self.run_ok('busctl --system call org.freedesktop.DBus /org/freedesktop/DBus '
                                    'org.freedesktop.DBus GetConnectionUnixUser s %s' % bus).split()[-1]
            user_uid = self.run_ok('id -u evcharge-%s' % svc).strip()
            self.assertEqual(owner_uid, user_uid,
                             msg='%s is owned by uid %s, expected evcharge-%s (%s)' % (bus, owner_uid, svc, user_uid))

    @OETestDepends(['evcharge.EvchargeTest.test_evcharge_dbus_names'])
    @OEHasPackage(['python3-evcharge-sim'])
    def test_evcharge_sil_session(self):
        """One simulated AC session on connector 1 against the running services, through evchargectl
        (the image's board profile is the simulator: EV plugged and unplugged over D-Bus)."""
        def status():
            return json.loads(self.run_ok('evchargectl --json status'))

        def connector(st, cid=1):
            return next(c for c in st['connectors'] if c['id'] == cid)

        def wait_state(state, timeout=60):
            deadline = time.time() + timeout
            while time.time() < deadline:
                st = status()
                if connector(st)['evse']['state'] == state:
                    return st
                time.sleep(1)
            self.fail('connector 1 never reached %s: %s' % (state, status()))

        before = json.loads(self.run_ok('evchargectl --json session list'))['sessions']
        self.run_ok('evchargectl ev plug 1 --cable 32')
        wait_state('Preparing')
        self.run_ok('evchargectl session start 1 OEQA-TEST')
        wait_state('Charging')
        time.sleep(5)  # let the simulated meter count some energy
        self.run_ok('evchargectl ev unplug 1')
        wait_state('Available')
        after = json.loads(self.run_ok('evchargectl --json session list'))['sessions']
        known = {s['session_id'] for s in before}
        new = [s for s in after if s['session_id'] not in known]
        self.assertEqual(len(new), 1, msg='expected exactly one new session: %s' % after)
        self.assertEqual(new[0]['stop_reason'], 'EVDisconnected')
        self.assertGreater(new[0]['energy_wh'], 0, msg='session delivered no energy: %s' % new[0])
