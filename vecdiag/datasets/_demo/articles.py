"""One-off help-centre articles of Halyard Networks, written by hand.

Halyard sells mesh Wi-Fi routers (HX-100, HX-110, HX-200, HX-210 Pro, HX-310), the
HX-E5 extender and the HX-M2 mesh point, a phone app, and the Halyard Shield security
subscription. Each entry: (id, category, title, text).
"""

ARTICLES = [
    # --- account --------------------------------------------------------------------
    ("acct-create", "account", "Create a Halyard account",
     "You need a Halyard account to manage your network from the app. Open the app, tap "
     "Sign up and enter your email address. We send a six-digit code that expires after "
     "ten minutes. Your password must be at least ten characters long. One account can "
     "own several networks, for example a home and a holiday flat."),
    ("acct-password-reset", "account", "Reset a forgotten account password",
     "On the sign-in screen tap Forgot password and enter the email address of your "
     "account. The reset link is valid for one hour. If the email does not arrive, look "
     "in your spam folder and make sure the address is spelled correctly. This resets "
     "the password of your Halyard account, not the Wi-Fi password of your network."),
    ("acct-2fa", "account", "Turn on two-step verification",
     "Two-step verification protects your account when someone learns your password. Go "
     "to Account > Security > Two-step verification and choose an authenticator app or "
     "SMS. Save the ten recovery codes somewhere safe: they are the only way back in if "
     "you lose your phone."),
    ("acct-lost-2fa", "account", "Lost your phone with the authenticator app",
     "Sign in with one of your recovery codes; each code works once. Without recovery "
     "codes, our support team can verify your identity with the serial number printed "
     "under your router and the email address of the account. This takes up to three "
     "business days."),
    ("acct-delete", "account", "Delete your Halyard account",
     "Deleting your account removes your networks, device names, usage history and "
     "Shield settings permanently. Your routers keep working as plain routers but can no "
     "longer be managed from the app until they are set up again. Go to Account > "
     "Privacy > Delete account. Active subscriptions are cancelled and not refunded."),
    ("acct-change-email", "account", "Change the email address of your account",
     "Go to Account > Profile > Email and enter the new address. We send a confirmation "
     "link to the new address and a notice to the old one. Until you confirm, the old "
     "address stays active."),
    ("acct-share", "account", "Share network access with family members",
     "Invite up to eight people as managers: Settings > Household > Invite. Managers can "
     "pause devices, see the guest network and run speed tests, but only the owner can "
     "change billing, delete the network or transfer ownership."),
    ("acct-transfer", "account", "Transfer ownership of a network",
     "Selling your house or handing the network to a flatmate? Invite the new owner as a "
     "manager first, then go to Settings > Household > Transfer ownership. The Shield "
     "subscription does not move with the network; the new owner starts a trial."),
    # --- billing --------------------------------------------------------------------
    ("bill-plans", "billing", "Halyard Shield plans and prices",
     "Halyard Shield adds threat blocking, ad blocking, parental controls with schedules "
     "and monthly security reports. Shield costs 4.99 per month or 49 per year per "
     "network. Shield Plus adds a VPN for five phones and costs 8.99 per month. Prices "
     "include VAT in the UK and EU."),
    ("bill-cancel", "billing", "Cancel your Shield subscription",
     "Open the app, go to Account > Subscription and tap Cancel subscription. Shield "
     "stays active until the end of the period you paid for, then the network falls "
     "back to the free features. Cancelling does not delete your account or your "
     "network. If you subscribed through the App Store or Google Play, cancel there."),
    ("bill-refund", "billing", "Refunds for Shield subscriptions",
     "Yearly plans can be refunded in full within 14 days of purchase or renewal. "
     "Monthly plans are not refunded, but you can cancel at any time. Purchases made "
     "through the App Store or Google Play are refunded by Apple or Google, not by us."),
    ("bill-invoice", "billing", "Download invoices",
     "Invoices are emailed after every payment. To download older ones, sign in at "
     "account.halyard.example, open Billing > Invoices and choose the month. Company "
     "name and VAT number can be added under Billing > Details and appear on future "
     "invoices only."),
    ("bill-payment-failed", "billing", "Your payment failed",
     "When a renewal payment fails we retry three times over seven days and email you "
     "each time. Update your card under Billing > Payment method. If all retries fail, "
     "Shield is paused, not deleted: your rules and schedules come back when you pay."),
    ("bill-trial", "billing", "The free Shield trial",
     "New networks get Shield free for 30 days. No card is needed to start the trial. "
     "When the trial ends without a subscription, Shield features switch off and "
     "parental-control schedules stop running; your profiles are kept for 90 days."),
    ("bill-student", "billing", "Student and multi-network discounts",
     "Students get 40 percent off a yearly Shield plan with a valid university email "
     "address. Owners of three or more networks get 20 percent off each additional "
     "network automatically at the next renewal."),
    ("bill-currency", "billing", "Change billing currency or country",
     "Your billing country is set by your first payment and decides currency and tax. "
     "To change it, cancel the current plan, let it expire, and subscribe again from "
     "the new country. Prepaid time is not transferred."),
    # --- setup ----------------------------------------------------------------------
    ("setup-first", "setup", "Set up your first Halyard router",
     "Connect the router's WAN port (the one with the globe icon) to your modem with "
     "the included cable, plug in power and wait until the light pulses blue. Open the "
     "Halyard app, tap Add network and follow the steps. Setup takes about five "
     "minutes. Keep your phone within a few metres of the router with Bluetooth on."),
    ("setup-no-app", "setup", "Set up a router without the app",
     "You can set up any Halyard router without a phone. Connect a computer to one of "
     "the LAN ports with a cable and open http://192.168.50.1 in a browser. The web "
     "setup asks for a Wi-Fi name, a password and an admin password. Features such as "
     "Shield, speed tests and household sharing still need the app later."),
    ("setup-add-point", "setup", "Add a mesh point or extender",
     "Plug the new HX-M2 or HX-E5 in halfway between the router and the area with weak "
     "signal. In the app tap + > Add point. The point joins the mesh within two "
     "minutes; its light turns solid white when the backhaul is good and yellow when it "
     "is too far away."),
    ("setup-placement", "setup", "Where to place your router and mesh points",
     "Put the router in the open, at table height or higher, not inside a cupboard or "
     "behind a TV. Walls with metal, mirrors, aquariums and microwave ovens weaken the "
     "signal. Mesh points work best two rooms away from each other, never more than "
     "one floor apart."),
    ("setup-isp-modem", "setup", "Use Halyard with your internet provider's router",
     "Most providers give you a modem-router. Either put it in bridge or modem-only "
     "mode, so Halyard does the routing, or leave it as it is and switch Halyard to "
     "bridge mode under Settings > Network > Mode. Two routers both doing NAT cause "
     "double NAT, which breaks some games and video calls."),
    ("setup-pppoe", "setup", "Connect with PPPoE (DSL and some fibre lines)",
     "If your provider gave you a username and password for the internet connection, "
     "choose PPPoE during setup, or later under Settings > Internet > Connection type. "
     "Some fibre providers also need a VLAN ID, for example 7 or 10; ask your provider."),
    ("setup-move", "setup", "Moving house with your Halyard network",
     "Unplug everything, move, connect the router to the new modem and power it on. "
     "Your Wi-Fi name and password stay the same, so your devices reconnect by "
     "themselves. If the new provider uses PPPoE, update the connection type in the "
     "app."),
    ("setup-static-ip", "setup", "Set a static WAN IP address",
     "Business lines sometimes come with a fixed public IP address. Go to Settings > "
     "Internet > Connection type > Static and enter the IP address, subnet mask, "
     "gateway and DNS servers your provider gave you."),
    # --- wifi -----------------------------------------------------------------------
    ("wifi-change-password", "wifi", "Change your Wi-Fi name or password",
     "In the app go to Settings > Wi-Fi > Network name and password. After saving, "
     "every device disconnects and has to join again with the new password. Smart home "
     "devices often need to be reset to join a renamed network."),
    ("wifi-guest", "wifi", "Create a guest network",
     "A guest network gives visitors internet access without access to your computers, "
     "printers and cameras. Go to Settings > Wi-Fi > Guest network, choose a name and "
     "password and share it with a QR code. You can set it to switch off after 24 "
     "hours."),
    ("wifi-band-split", "wifi", "Separate 2.4 GHz and 5 GHz networks",
     "Halyard shows one Wi-Fi name for all bands and moves devices to the best band. "
     "Some older smart plugs only join 2.4 GHz networks. Turn on Settings > Wi-Fi > "
     "Compatibility mode to create a separate 2.4 GHz-only network named after yours "
     "with -IoT at the end."),
    ("wifi-slow", "wifi", "Slow Wi-Fi: what to check first",
     "Run a speed test in the app: it measures the internet line and the Wi-Fi link "
     "separately. If the line is slow, contact your provider. If the Wi-Fi link is "
     "slow, move closer, add a mesh point, or check the channel congestion chart under "
     "Insights > Wi-Fi health."),
    ("wifi-wps", "wifi", "Connect a printer with WPS",
     "WPS lets a printer join without typing a password. Press the WPS button on the "
     "router for one second (or tap Settings > Wi-Fi > WPS in the app), then press the "
     "WPS button on the printer within two minutes. WPS is off on the HX-310 because "
     "WPA3-only networks do not support it."),
    ("wifi-wpa3", "wifi", "WPA3 and older devices",
     "New networks use WPA2/WPA3 mixed mode so that older laptops can still join. You "
     "can switch to WPA3 only under Settings > Wi-Fi > Security; devices from before "
     "2019 may then no longer connect."),
    ("wifi-channel", "wifi", "Choose a Wi-Fi channel manually",
     "Halyard picks channels automatically every night at 3:00. To pin a channel, go to "
     "Settings > Wi-Fi > Advanced > Channel. Pinned channels stop the nightly "
     "optimisation, so interference from new neighbours is not avoided."),
    ("wifi-device-not-connecting", "wifi", "A device does not connect to Wi-Fi",
     "Forget the network on the device and join again, checking the password carefully "
     "(it is case sensitive). Make sure the device is not paused or blocked under "
     "Devices. Very old devices may need Compatibility mode or WPA2."),
    ("wifi-mesh-backhaul", "wifi", "Wired backhaul between mesh points",
     "If there is an Ethernet cable between rooms, connect the mesh point to the router "
     "with it. The mesh then uses the cable for traffic between points and keeps all "
     "Wi-Fi bandwidth for your devices. The app shows 'Wired' next to the point."),
    # --- features -------------------------------------------------------------------
    ("feat-parental", "features", "Parental controls and bedtime schedules",
     "Create a profile for each child and assign their devices. Pause the internet for "
     "a profile with one tap, or set a bedtime schedule per weekday. Content filters "
     "for adult sites and social media need Halyard Shield."),
    ("feat-port-forward", "features", "Set up port forwarding",
     "Go to Settings > Network > Port forwarding and choose the device, the protocol "
     "(TCP, UDP or both) and the port numbers. Give the device a reserved IP address "
     "first, otherwise the rule breaks when its address changes."),
    ("feat-reserved-ip", "features", "Reserve an IP address for a device",
     "Open the device in Devices, tap Advanced > Reserve IP address. The device keeps "
     "the same local address every time it connects, which port forwarding and some "
     "NAS drives need."),
    ("feat-dns", "features", "Use custom DNS servers",
     "By default Halyard uses your provider's DNS servers. To use others, for example "
     "1.1.1.1 or 9.9.9.9, go to Settings > Internet > DNS. With Shield active, threat "
     "blocking uses Halyard's own resolver and custom DNS is only used as a fallback."),
    ("feat-ipv6", "features", "IPv6 support",
     "IPv6 is on by default when your provider offers it. The app shows the IPv6 prefix "
     "under Settings > Internet > Status. If some websites load slowly or not at all, "
     "try turning IPv6 off to rule out a problem with your provider's IPv6."),
    ("feat-vpn-server", "features", "Run a VPN server on your router",
     "The HX-200, HX-210 Pro and HX-310 can run a WireGuard VPN server, so you can "
     "reach your home network while travelling. Go to Settings > Network > VPN server "
     "and scan the QR code with the WireGuard app. The HX-100 and HX-110 do not "
     "support it."),
    ("feat-speedtest", "features", "Scheduled speed tests",
     "The router tests your internet speed every night and keeps 90 days of history "
     "under Insights > Speed. A test uses up to 1 GB of data; turn scheduled tests off "
     "on metered connections."),
    ("feat-adblock", "features", "Block ads on every device",
     "With Shield, turn on Ad blocking under Shield > Protection. It blocks ads by "
     "domain for every device on the network, including smart TVs. Some shopping "
     "cashback sites stop working; add them to the allow list."),
    ("feat-upnp", "features", "UPnP: what it is and whether to turn it on",
     "UPnP lets devices open ports by themselves, which game consoles and some video "
     "call apps use. It is on by default. Security-minded users can turn it off under "
     "Settings > Network > UPnP and forward ports by hand instead."),
    ("feat-alexa", "features", "Voice assistants",
     "Link your Halyard account in the Alexa or Google Home app to pause Wi-Fi for a "
     "profile or turn the guest network on by voice. Voice control cannot change "
     "passwords or security settings."),
    ("feat-notifications", "features", "Choose which notifications you get",
     "Under Account > Notifications you can turn off alerts for new devices, threats "
     "blocked, firmware updates and outages. Outage alerts are sent by email as well, "
     "because the app cannot reach you when your internet is down."),
    # --- troubleshooting ----------------------------------------------------------------
    ("trb-no-internet", "troubleshooting", "Connected to Wi-Fi but no internet",
     "If devices show full Wi-Fi bars but pages do not load, the problem is usually "
     "between the router and your provider. Restart the modem first, then the router. "
     "Check the cable in the WAN port. If the app shows 'Internet down', contact your "
     "provider; your Wi-Fi itself is working."),
    ("trb-drops", "troubleshooting", "Wi-Fi drops out every few minutes",
     "Frequent drops are often caused by interference or a device that falls asleep to "
     "save power. Look at Insights > Wi-Fi health for the time of the drops. If all "
     "devices drop at once, the router may be overheating: give it space to breathe."),
    ("trb-overheat", "troubleshooting", "Router feels hot",
     "Routers run warm, up to about 50 degrees on the top. Keep the vents free and do "
     "not stack devices on top. If the router restarts by itself when hot, contact "
     "support: it may be covered by the warranty."),
    ("trb-app-cant-find", "troubleshooting", "The app cannot find the router during setup",
     "Turn Bluetooth and location access on for the app: phones only allow Bluetooth "
     "scanning with location permission. Stand within two metres of the router and "
     "wait until the light pulses blue. Restart the router if the light is solid."),
    ("trb-gaming-lag", "troubleshooting", "Lag and high ping in online games",
     "Connect the console with a cable if you can. Turn on Settings > Network > Gaming "
     "priority for the console. High ping on every device usually comes from the "
     "internet line, not the Wi-Fi."),
    ("trb-smart-home", "troubleshooting", "Smart home devices will not join",
     "Most smart plugs, bulbs and cameras only support 2.4 GHz. Turn on Compatibility "
     "mode for a separate 2.4 GHz network, join the device to it, and keep the phone on "
     "the same network during pairing."),
    ("trb-vpn-blocked", "troubleshooting", "Work VPN does not connect at home",
     "Corporate VPNs sometimes fail behind double NAT or with threat blocking active. "
     "Add the work laptop to the Shield allow list and check for double NAT under "
     "Insights > Network. If it still fails, ask your IT team which ports the VPN "
     "needs."),
    # --- privacy & policy --------------------------------------------------------------
    ("priv-data", "privacy", "What data Halyard collects",
     "We collect device names, MAC addresses, connection times and the amount of data "
     "used, to show them in your app. With Shield, domain names of blocked threats are "
     "kept for 30 days. We never collect the contents of your traffic or sell data."),
    ("priv-export", "privacy", "Export your data",
     "Under Account > Privacy > Export data you receive a download link within 48 hours "
     "with everything we store about you in JSON files."),
    ("pol-warranty", "policy", "Hardware warranty",
     "Halyard routers and mesh points have a two-year limited warranty from the date of "
     "purchase. It covers hardware faults, not damage from water, power surges or "
     "opening the case. Keep your receipt; we ask for it with every claim."),
    ("pol-recycle", "policy", "Recycle an old router",
     "Reset the router to factory settings to remove your data, then return it to any "
     "electronics recycling point. In the EU and UK you can also send it to us with a "
     "free shipping label from the returns page."),
    ("pol-accessibility", "policy", "Accessibility of the Halyard app",
     "The app supports screen readers (VoiceOver and TalkBack), dynamic text sizes and "
     "high-contrast mode. The router's status light can also be announced by the app "
     "for people who cannot see the colour."),
    # --- compatibility -----------------------------------------------------------------
    ("comp-mix-models", "compatibility", "Mixing router models in one mesh",
     "All current models can be combined in one mesh. An HX-100 or HX-110 added to an "
     "HX-310 mesh works as a mesh point at Wi-Fi 5 speeds. The HX-E5 extender works "
     "with every model. Old HX-50 units cannot join a mesh."),
    ("comp-other-brands", "compatibility", "Using Halyard with other brands' mesh systems",
     "Halyard points only join Halyard networks. You can connect another brand's mesh "
     "behind a Halyard router, but then put one of them in bridge mode to avoid two "
     "separate Wi-Fi networks fighting over channels."),
    ("comp-starlink", "compatibility", "Halyard with Starlink",
     "Connect the Starlink adapter to the WAN port and choose DHCP during setup. "
     "Starlink uses carrier-grade NAT, so port forwarding from outside does not work; "
     "use the VPN server's relay option instead."),
    ("comp-5g-modem", "compatibility", "Halyard with a 4G or 5G modem",
     "Any modem with an Ethernet port works. Turn off scheduled speed tests to save "
     "mobile data, and put the modem in bridge or IP passthrough mode if it offers it."),
]
