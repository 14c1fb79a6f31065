"""Article families of the Halyard help centre, generated from hand-written facts.

Real help centres grow families of near-identical pages: one per product model, per
firmware release, per error code, per region, per platform; stub pages that are mostly
site boilerplate; long guides whose useful part sits at the very end. Every family here
is built from small hand-written tables, so pages differ exactly where the facts differ
(a model code, a version number, a hold time), the pattern dense models blur.
"""

from __future__ import annotations

import random

# The footer the old help-centre CMS appended to every page it exported.
FOOTER = (
    "Was this article helpful? Yes / No. Still need help? Our support team is available "
    "24 hours a day, 7 days a week by chat in the Halyard app, by email at "
    "support@halyard.example or by phone. Before you contact us, have your router's "
    "serial number ready: it is printed on the label under the device. Related articles: "
    "Getting started with Halyard; Contact Halyard Support; Halyard community forum; "
    "System status. We use cookies to improve your experience of the help centre; manage "
    "your cookie preferences at any time. Copyright Halyard Networks. All rights reserved. "
    "Terms of service. Privacy notice. Sitemap. Language: English.")

MODELS = {
    # code: (kind, year, wifi, ports, reset location, reset seconds, mount, speed, fw line)
    "HX-100": ("router", 2020, "Wi-Fi 5", "one WAN and two LAN ports", "on the back next to the "
               "power socket", 10, "two keyhole slots on the base", "1.2 Gbps", "3.9"),
    "HX-110": ("router", 2021, "Wi-Fi 5", "one WAN and three LAN ports", "on the back next to the "
               "power socket", 10, "two keyhole slots on the base", "1.7 Gbps", "3.9"),
    "HX-200": ("router", 2022, "Wi-Fi 6", "one WAN and three LAN ports", "on the bottom, inside "
               "a small hole", 15, "the included bracket", "3.0 Gbps", "4.4"),
    "HX-210 Pro": ("router", 2023, "Wi-Fi 6", "a 2.5 GbE WAN port and four LAN ports", "on the "
                   "bottom, inside a small hole", 15, "the included bracket", "5.4 Gbps", "4.4"),
    "HX-310": ("router", 2024, "Wi-Fi 6E", "a 10 GbE WAN port and three 2.5 GbE LAN ports",
               "on the back, under the rubber flap", 20, "the magnetic wall plate", "7.8 Gbps",
               "4.4"),
    "HX-E5": ("extender", 2022, "Wi-Fi 6", "one LAN port", "on the side, next to the LED", 8,
              "no mount: it plugs straight into a wall socket", "1.8 Gbps", "4.4"),
    "HX-M2": ("mesh point", 2023, "Wi-Fi 6", "two LAN ports", "on the bottom, inside a small "
              "hole", 15, "the included bracket", "3.0 Gbps", "4.4"),
}

LIGHTS = [
    ("pulsing blue", "ready for setup"), ("solid white", "online and working"),
    ("pulsing white", "updating firmware: do not unplug"), ("solid yellow", "weak connection "
     "to the mesh"), ("solid red", "no internet connection"), ("blinking red", "hardware fault "
     "or failed update"), ("off", "no power or the light is dimmed in the app")]


def model_pages():
    pages = []
    for code, (kind, year, wifi, ports, where, hold, mount, speed, line) in MODELS.items():
        slug = code.lower().replace(" ", "-")
        pages.append((f"reset-{slug}", "models", f"Factory reset the {code}",
                      f"A factory reset erases the Wi-Fi name, passwords and all settings of "
                      f"your {code} {kind}. The reset button is {where}. With the {code} "
                      f"powered on, press and hold the button with a paperclip for {hold} "
                      f"seconds, until the light blinks yellow. Release it and wait about "
                      f"three minutes until the light pulses blue; then set it up again in "
                      f"the app. A reset does not remove the {code} from your account."))
        lights = "; ".join(f"{c}: {m}" for c, m in LIGHTS)
        pages.append((f"lights-{slug}", "models", f"{code} status light colours",
                      f"The light on the top of the {code} shows its state. {lights}. You "
                      f"can dim the light of the {code} at night under Settings > "
                      f"Devices > {code} > Light."))
        pages.append((f"specs-{slug}", "models", f"{code} technical specifications",
                      f"The {code} ({year}) is a {wifi} {kind} with {ports}. Maximum "
                      f"combined Wi-Fi speed: {speed}. Security: WPA2 and WPA3. Power: "
                      f"12 V adapter included. Firmware line {line}.x. Operating "
                      f"temperature 0 to 40 degrees."))
        pages.append((f"mount-{slug}", "models", f"Wall-mount the {code}",
                      f"The {code} mounts with {mount}. Mount it at least 1.5 metres above "
                      f"the floor with the light facing down, away from metal surfaces. "
                      f"Do not mount the {code} above a radiator."))
        pages.append((f"update-{slug}", "models", f"Update the firmware of the {code}",
                      f"The {code} installs firmware updates automatically between 2:00 "
                      f"and 5:00. To update now, open Settings > Devices > {code} > "
                      f"Firmware and tap Check for updates. The {code} runs firmware "
                      f"{line}.x; the light pulses white during an update, which takes up "
                      f"to ten minutes. Never unplug the {code} while it updates."))
        pages.append((f"start-{slug}", "models", f"{code} quick start",
                      f"In the box: the {code}, a power adapter and an Ethernet cable. "
                      f"Connect the {code} to your modem (or, for a {kind} that is not the "
                      f"main router, plug it in within two rooms of the router), wait for "
                      f"the blue light and follow the app."))
    return pages


FIRMWARE = [
    # (version, date, changes)
    ("3.9.0", "March 2023", ["Adds guest network schedules", "Improves 5 GHz range by about "
                             "10 percent"]),
    ("3.9.1", "April 2023", ["Fixes a crash when more than 64 devices are connected"]),
    ("3.9.2", "June 2023", ["Fixes guest network schedules ignoring daylight saving time",
                            "Security fixes"]),
    ("3.9.3", "August 2023", ["Security fixes for the web setup page"]),
    ("3.9.4", "November 2023", ["Fixes smart plugs dropping off the 2.4 GHz network every "
                                "night", "Adds Compatibility mode"]),
    ("3.9.5", "February 2024", ["Security fixes", "Updates the root certificates"]),
    ("3.9.6", "July 2024", ["Final feature update for the HX-100 and HX-110; security fixes "
                            "continue until 2027"]),
    ("4.0.0", "January 2023", ["First firmware for the HX-200 with mesh points",
                               "Adds WPA3 transition mode"]),
    ("4.1.0", "May 2023", ["Adds gaming priority", "Adds IPv6 prefix delegation"]),
    ("4.1.2", "June 2023", ["Fixes port forwarding rules lost after a restart"]),
    ("4.2.0", "September 2023", ["Adds the WireGuard VPN server", "Adds WPA3-only mode"]),
    ("4.2.1", "October 2023", ["Fixes VPN server handshakes failing behind carrier-grade "
                               "NAT"]),
    ("4.3.0", "January 2024", ["Adds support for the HX-M2 mesh point", "Adds wired backhaul "
                               "detection", "Adds the VPN relay for Starlink and other CGNAT "
                               "lines"]),
    ("4.3.1", "February 2024", ["Fixes routers stuck on a solid red light after updating "
                                "from 4.2.x", "Fixes wrong speed test history"]),
    ("4.3.2", "April 2024", ["Security fixes", "Improves roaming between mesh points for "
                             "phones"]),
    ("4.4.0", "July 2024", ["Adds support for the HX-310 and 6 GHz", "Adds scheduled "
                            "reboots", "Known issue: Compatibility mode network disappears "
                            "after a reboot, fixed in 4.4.1"]),
    ("4.4.1", "August 2024", ["Fixes Compatibility mode network missing after a reboot"]),
    ("4.4.2", "October 2024", ["Security fixes", "Improves DFS channel selection on the "
                               "HX-310"]),
]


def firmware_pages():
    pages = []
    for version, date, changes in FIRMWARE:
        models = "HX-100 and HX-110" if version.startswith("3.") else \
            "HX-200, HX-210 Pro, HX-310, HX-E5 and HX-M2"
        body = " ".join(f"- {c}." for c in changes)
        pages.append((f"fw-{version}", "firmware", f"Firmware {version} release notes",
                      f"Firmware {version} for the {models}, released {date}. Changes in "
                      f"{version}: {body} The update installs automatically at night; to "
                      f"install {version} now, open Settings > Devices > Firmware."))
    return pages


ERRORS = [
    ("E-101", "The router cannot reach your modem", "check the cable in the WAN port and "
     "restart the modem"),
    ("E-102", "The modem gave no IP address", "restart the modem and wait five minutes; if "
     "your provider uses PPPoE, choose PPPoE"),
    ("E-103", "PPPoE username or password rejected", "re-enter the PPPoE credentials from "
     "your provider's letter"),
    ("E-104", "DNS lookups fail", "switch DNS back to automatic or try 1.1.1.1"),
    ("E-105", "The internet connection is up but very slow", "run a speed test and contact "
     "your provider if the line is slow"),
    ("E-110", "A mesh point lost the router", "move the point closer or connect it with a "
     "cable"),
    ("E-111", "Mesh backhaul is weak", "move the point one room closer to the router"),
    ("E-112", "The mesh point runs older firmware", "update all points from Settings > "
     "Devices"),
    ("E-120", "Firmware download failed", "make sure the router has internet and try again "
     "later"),
    ("E-121", "Firmware image is damaged", "wait for the automatic retry; if it repeats, "
     "contact support"),
    ("E-122", "Not enough memory to install the update", "restart the router and update "
     "again"),
    ("E-130", "The router is too hot", "give it space and keep the vents free"),
    ("E-131", "The power adapter delivers too little power", "use the original 12 V "
     "adapter"),
    ("E-140", "The app lost the connection to the router", "make sure the phone is online "
     "and sign in again"),
    ("E-141", "Setup timed out over Bluetooth", "stand closer and restart setup"),
    ("E-150", "Shield could not start", "check that your subscription is active"),
    ("E-151", "Shield threat database is out of date", "restart the router to download it "
     "again"),
    ("E-160", "The port forwarding rule conflicts with another rule", "delete the older "
     "rule or choose another port"),
    ("E-161", "UPnP request refused", "turn on UPnP or forward the port by hand"),
    ("E-170", "The VPN server certificate expired", "create a new VPN profile in the app"),
    ("E-180", "Double NAT detected", "put your provider's router in bridge mode"),
    ("E-190", "Too many devices", "the router supports 200 devices; remove old ones"),
    ("E-201", "The account is locked after too many sign-in attempts", "wait 30 minutes or "
     "reset your password"),
    ("E-217", "Your payment method was declined", "update the card under Billing > Payment "
     "method"),
]


def error_pages():
    return [(f"err-{code.lower()}", "errors", f"Error {code}: {title}",
             f"The app shows error {code} when: {title.lower()}. To fix {code}, {fix}. If "
             f"{code} keeps coming back, restart the router and contact support with the "
             f"code.") for code, title, fix in ERRORS]


REGIONS = {
    # region: (days to ship, free return window, carrier, currency)
    "US": ("3 to 5 business days", 30, "UPS", "USD"),
    "UK": ("2 to 3 business days", 30, "Royal Mail", "GBP"),
    "EU": ("3 to 6 business days", 30, "DHL", "EUR"),
    "Canada": ("4 to 8 business days", 30, "Canada Post", "CAD"),
    "Australia": ("5 to 9 business days", 30, "Australia Post", "AUD"),
}


def region_pages():
    pages = []
    for region, (days, window, carrier, currency) in REGIONS.items():
        slug = region.lower()
        pages.append((f"ship-{slug}", "orders", f"Shipping times ({region})",
                      f"Orders from the Halyard store in {region} ship with {carrier} and "
                      f"arrive in {days}. Prices are in {currency}. You get a tracking link "
                      f"by email when the parcel leaves our warehouse."))
        pages.append((f"return-{slug}", "orders", f"Return a product ({region})",
                      f"You can return products bought in the Halyard store in {region} "
                      f"within {window} days of delivery for a full refund. Start the "
                      f"return under Orders > Return, print the {carrier} label and "
                      f"reset the device first. Refunds in {currency} arrive within ten "
                      f"days after we receive the parcel. Products bought from other "
                      f"shops are returned to that shop."))
    return pages


PLATFORMS = ["Windows 11", "macOS", "iPhone and iPad", "Android", "ChromeOS", "Linux",
             "smart TVs", "Xbox", "PlayStation 5", "Nintendo Switch"]


def platform_pages():
    pages = []
    for platform in PLATFORMS:
        slug = platform.lower().replace(" ", "-")
        pages.append((f"join-{slug}", "wifi", f"Join your Halyard Wi-Fi on {platform}",
                      f"On {platform}, open the Wi-Fi or network settings, choose your "
                      f"Halyard network name and enter the password shown in the app "
                      f"under Settings > Wi-Fi. If {platform} does not list the network, "
                      f"turn on Compatibility mode and try again."))
    return pages


APP_RELEASES = [
    ("5.0", "New home screen with a network map"), ("5.1", "Dark mode"),
    ("5.2", "Household sharing with up to eight managers"),
    ("5.3", "Speed test history charts"), ("5.4", "Sign in with passkeys"),
    ("5.5", "Shield security reports in the app"), ("5.6", "Widgets for the home screen"),
]


SHIELD_PRICES = {"US": ("USD", "4.99", "49"), "UK": ("GBP", "4.49", "44"),
                 "EU": ("EUR", "4.99", "49"), "Canada": ("CAD", "6.49", "64"),
                 "Australia": ("AUD", "7.49", "74")}


def price_pages():
    return [(f"price-{region.lower()}", "billing", f"Shield prices in {region}",
             f"In {region}, Halyard Shield costs {monthly} {currency} per month or {yearly} "
             f"{currency} per year per network, taxes included. Prices are charged in "
             f"{currency} whatever the currency of your card.")
            for region, (currency, monthly, yearly) in SHIELD_PRICES.items()]


def ports_pages():
    pages = []
    for code, (kind, _, _, ports, *_rest) in MODELS.items():
        slug = code.lower().replace(" ", "-")
        pages.append((f"ports-{slug}", "models", f"Ports and cables on the {code}",
                      f"The {code} has {ports}. Use the WAN port (globe icon) only for the "
                      f"modem when the {code} is your main router; as a mesh point any port "
                      f"works for wired backhaul. Cat 6 cables are recommended for "
                      f"speeds above 1 Gbps."))
    return pages


def forget_pages():
    return [(f"forget-{p.lower().replace(' ', '-')}", "wifi", f"Forget a Wi-Fi network on {p}",
             f"To make {p} join your network again from scratch, open the Wi-Fi settings of "
             f"{p}, select your Halyard network and choose Forget. Then join it again with "
             f"the current password.") for p in PLATFORMS]


def app_pages():
    return [(f"app-{v}", "app", f"Halyard app {v}: what's new",
             f"Version {v} of the Halyard app for iPhone and Android: {news}. Update the "
             f"app from the App Store or Google Play. The app {v} needs iOS 16 or Android 10 "
             f"or newer.") for v, news in APP_RELEASES]


MOVED = ["Legacy setup guide", "Old billing FAQ", "HX-50 support", "Halyard Classic app",
         "Beta programme", "Shield for business", "Router admin page (old)",
         "Community guidelines (2021)", "Holiday support hours", "Order status (old store)"]
CATEGORIES = ["Account", "Billing", "Setup", "Wi-Fi", "Features", "Troubleshooting",
              "Privacy", "Orders"]


def stub_pages(article_titles):
    """Pages that are almost all boilerplate: redirects and category indexes."""
    rng = random.Random(0)
    pages = []
    for title in MOVED:
        slug = "moved-" + title.lower().replace(" ", "-").replace("(", "").replace(")", "")
        pages.append((slug, "stub", title,
                      f"This article has moved or is no longer maintained. {FOOTER}"))
    for category in CATEGORIES:
        listed = rng.sample(article_titles, 4)
        pages.append((f"category-{category.lower()}", "stub", f"{category} articles",
                      f"Popular {category} articles: {'; '.join(listed)}. {FOOTER}"))
    return pages
