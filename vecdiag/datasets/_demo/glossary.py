"""Glossary entries and community forum threads of the Halyard help centre (by hand)."""

GLOSSARY = [
    ("mesh", "A mesh network uses several Wi-Fi units that work as one network with one "
     "name, handing your devices from unit to unit as you move around."),
    ("backhaul", "Backhaul is the link that carries traffic between mesh points and the "
     "router: a dedicated radio band, or an Ethernet cable for wired backhaul."),
    ("NAT", "Network address translation lets all your devices share the single public IP "
     "address your provider gives you. Incoming connections need port forwarding or UPnP."),
    ("double NAT", "Double NAT happens when two routers in a row each translate addresses, "
     "for example your provider's router and a Halyard router. Games and VPNs may fail."),
    ("CGNAT", "Carrier-grade NAT is NAT done by your provider for many customers at once; "
     "you cannot forward ports through it. Satellite and mobile lines often use it."),
    ("DHCP", "DHCP hands out local IP addresses to devices when they join the network. The "
     "Halyard router is the DHCP server unless it runs in bridge mode."),
    ("SSID", "The SSID is the name of your Wi-Fi network, the one your devices list."),
    ("MAC address", "A MAC address identifies a network card. Phones use random MAC "
     "addresses per network by default, so one phone can appear as a new device."),
    ("DFS", "Dynamic frequency selection channels share the 5 GHz band with weather radar; "
     "the router must leave them for 30 minutes when radar is detected."),
    ("band steering", "Band steering moves devices that can use 5 GHz or 6 GHz away from the "
     "crowded 2.4 GHz band."),
    ("beamforming", "Beamforming focuses the Wi-Fi signal towards a device instead of "
     "spreading it evenly in all directions."),
    ("MU-MIMO", "MU-MIMO lets the router talk to several devices at the same moment instead "
     "of taking turns."),
    ("QoS", "Quality of service gives some traffic priority, for example video calls or a "
     "game console, when the line is busy."),
    ("VLAN", "A VLAN tag separates traffic on one cable. Some fibre providers require a VLAN "
     "ID on the internet connection."),
    ("bridge mode", "In bridge mode a router stops routing and only passes traffic on, so "
     "another router can do NAT and DHCP. It avoids double NAT."),
    ("latency", "Latency, or ping, is the time a packet needs to travel to a server and "
     "back, in milliseconds. Games and calls suffer when it is high."),
    ("jitter", "Jitter is how much the latency varies from packet to packet; calls break up "
     "when it is high even if the average ping is fine."),
    ("MTU", "The maximum transmission unit is the largest packet size on a link: 1500 bytes "
     "on Ethernet, 1492 on PPPoE."),
    ("WPA3", "WPA3 is the newest Wi-Fi security standard; it protects weak passwords "
     "against guessing attacks."),
    ("roaming", "Roaming is a device moving from one mesh point to another without losing "
     "its connection."),
    ("WAN and LAN", "The WAN port connects to your modem and the internet; LAN ports "
     "connect your own devices."),
    ("6 GHz", "The 6 GHz band (Wi-Fi 6E) is wide and uncrowded but has shorter range; only "
     "the HX-310 and newer devices use it."),
]

FORUM = [
    ("My HX-200 reboots every night at 4am", "That's the scheduled reboot added in 4.4.0. "
     "Turn it off under Settings > Devices > Scheduled reboot. Solved, thanks!"),
    ("Mesh point keeps showing yellow", "Moved the HX-M2 one room closer and it turned "
     "white. The yellow light just means weak backhaul, nothing is broken."),
    ("Can't see my NAS after switching to Halyard", "The NAS had a fixed IP from my old "
     "router's range. Gave it a reserved address in the new range and it showed up."),
    ("Speed test shows 300 but I pay for 1000", "The in-app test runs on the router and "
     "tops out around 940 on the HX-200. 300 turned out to be my provider's modem "
     "negotiating 100 Mbit on a bad cable; new cable fixed it."),
    ("Kids found a way around the bedtime schedule", "They switched their phones to a "
     "random MAC address, which looked like a new device. Turn on Settings > Devices > "
     "New devices need approval."),
    ("Halyard and my Philips Hue bridge", "The Hue bridge is wired, so it is fine. Just "
     "don't put it on the guest network or the app can't find it."),
    ("Is the HX-100 still getting updates?", "Security fixes until 2027 according to the "
     "3.9.6 notes, but no new features."),
    ("Guest network without password for a cafe", "You can leave the guest password empty, "
     "but then traffic is unencrypted. A QR code on the counter is the better option."),
    ("Printer disappears every few days", "Classic printer sleep issue. Reserved IP plus "
     "turning off the printer's power saving for Wi-Fi fixed it for me."),
    ("Chromecast not found on the network", "Casting needs phone and Chromecast on the same "
     "network. My phone was on the -IoT compatibility network, the TV was not."),
    ("Anyone running Pi-hole behind Halyard?", "Yes: set Pi-hole's address as custom DNS and "
     "turn Shield's ad blocking off so they don't fight."),
    ("Upgrading from HX-110 to HX-310", "Set up the HX-310 as the new router and add the "
     "HX-110 as a mesh point. Kept the same Wi-Fi name, nothing had to reconnect."),
]


def glossary_pages():
    return [(f"glossary-{term.lower().replace(' ', '-')}", "glossary", f"What is {term}?",
             text) for term, text in GLOSSARY]


def forum_pages():
    return [(f"forum-{i + 1:02d}", "community", title, f"Community answer: {text}")
            for i, (title, text) in enumerate(FORUM)]
