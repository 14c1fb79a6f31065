"""Long Halyard guides: general advice first, the specific answer in the last section.

all-MiniLM-L6-v2 reads 256 tokens; each guide's preamble is longer than that, so the
one paragraph a searcher needs is never embedded (the truncation failure).
"""

_BEFORE = (
    "Before you start, make sure the Halyard app is up to date and that you are signed in "
    "with the account that owns the network. Most problems can be solved without tools, "
    "but keep a paperclip nearby for the reset button and, if possible, an Ethernet "
    "cable. Write down your Wi-Fi name and password first, in case you need to reset. "
    "Work through the sections in order: each one builds on the one before, and most "
    "people find their answer in the first three. Restarting fixes a surprising number of "
    "problems, so restart the modem first, wait until its lights settle, then restart the "
    "router and finally the mesh points. Give every device two full minutes after power "
    "returns; a router that is still starting up can look broken when it is not. If your "
    "home has several floors, check the problem on each floor: a problem that only "
    "appears far from the router is a coverage problem, not a fault. Keep notes of what "
    "you tried and when, because our support team will ask, and the order of events "
    "often points to the cause. If you use a provider's modem-router, check its own "
    "status page as well: many outages start upstream. Finally, look at the System "
    "status page, which lists known outages of the Halyard cloud service; during an "
    "outage the app may show errors while your Wi-Fi and internet keep working.")

GUIDES = [
    ("guide-lights", "troubleshooting", "The complete guide to status lights and startup problems",
     _BEFORE + " Reading the light: the colour tells you the state, the rhythm tells you "
     "whether the router is busy. A pulsing light means work in progress; a solid light "
     "means a steady state; blinking means attention is needed. Specific case, solid red "
     "light right after a firmware update: routers that updated from firmware 4.2.x could "
     "stay red because the update kept an old internet setting. Unplug the router for 30 "
     "seconds, plug it back in and let it install 4.3.1, which fixes the problem. If the "
     "light is still red after ten minutes, hold the reset button for 20 seconds."),
    ("guide-gaming", "troubleshooting", "Gaming on Halyard: the complete guide",
     _BEFORE + " Games are sensitive to delay more than to speed: a 50 Mbps line with a "
     "steady ping beats a gigabit line with spikes. Wired connections always beat Wi-Fi "
     "for consoles. NAT type Strict or Moderate on Xbox or PlayStation: this means the "
     "console cannot accept incoming connections. Turn on UPnP under Settings > Network, "
     "restart the console, and test the NAT type again. If it stays Strict, you are "
     "probably behind double NAT: put your provider's router in bridge mode."),
    ("guide-shield", "billing", "Everything about Halyard Shield",
     _BEFORE + " Shield runs on the router itself, so it protects every device, including "
     "ones where you cannot install software, such as TVs and cameras. Shield is billed "
     "per network. Second network: a subscription covers one network only; a holiday "
     "home or an office set up under the same account needs its own Shield subscription, "
     "billed separately, with the 20 percent multi-network discount from the third "
     "network on."),
    ("guide-advanced", "features", "The advanced networking handbook",
     _BEFORE + " Advanced settings are meant for people who know why they need them; the "
     "defaults suit almost every home. MTU for PPPoE and fibre: PPPoE connections need an "
     "MTU of 1492 bytes instead of 1500. Halyard sets it automatically when you choose "
     "PPPoE, but with a VLAN or a provider modem in bridge mode you may have to enter 1492 "
     "under Settings > Internet > Advanced > MTU. A wrong MTU makes some websites hang "
     "while others load."),
    ("guide-remote", "features", "Reach your home network from anywhere",
     _BEFORE + " The VPN server puts your phone or laptop inside your home network wherever "
     "you are. Wake-on-LAN: to wake a computer at home while you are away, connect to the "
     "VPN server first, then open Devices in the app, choose the computer and tap Wake. "
     "The computer's network card must have Wake-on-LAN enabled in its BIOS or settings."),
    ("guide-home-office", "troubleshooting", "The home office guide",
     _BEFORE + " Video calls need upload speed more than download speed; check both in the "
     "speed test. Put your work laptop on the 5 GHz or 6 GHz band when you can. Work VPN "
     "keeps disconnecting every hour: this happens when Shield's threat blocking renews "
     "its filter lists. Add the work laptop to Shield > Allow list, or turn on Settings > "
     "Network > Keep VPN sessions, available from firmware 4.3.2."),
]
