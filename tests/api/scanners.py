"""Request shapes of the machines that open links people receive, and of people's browsers, as they are seen
on the wire (User-Agent strings as published by their vendors or logged by web servers)."""

from __future__ import annotations

# (name, method, headers): none of these may ever acknowledge an alert
SCANNERS: list[tuple[str, str, dict[str, str]]] = [
    ("Slack link expander", "GET", {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}),
    ("Slack image proxy", "GET", {"User-Agent": "Slack-ImgProxy (+https://api.slack.com/robots)"}),
    ("Microsoft Teams preview", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 "
                                                      "(KHTML, like Gecko) SkypeUriPreview Preview/0.5 "
                                                      "skype-url-preview@microsoft.com"}),
    ("Outlook link check", "HEAD", {"User-Agent": "Microsoft Office Existence Discovery"}),
    ("Outlook desktop", "GET", {"User-Agent": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook "
                                              "16.0.17928; Pro)"}),
    ("Googlebot", "GET", {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}),
    ("Google page renderer", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 6.1; Win64; x64; +http://www.google.com/"
                                                   "feedfetcher.html) Google-PageRenderer Google (+https://"
                                                   "developers.google.com/+/web/snippet/)"}),
    ("Gmail image proxy", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                                                "(via ggpht.com GoogleImageProxy)"}),
    ("Bing preview", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
                                           "like Gecko) Chrome/120.0.0.0 Safari/537.36 BingPreview/1.0b"}),
    ("Bingbot", "GET", {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}),
    ("Facebook", "GET", {"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"}),
    ("WhatsApp preview", "GET", {"User-Agent": "WhatsApp/2.23.20.0 A"}),
    ("Telegram", "GET", {"User-Agent": "TelegramBot (like TwitterBot)"}),
    ("Discord", "GET", {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"}),
    ("LinkedIn", "GET", {"User-Agent": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://"
                                       "www.linkedin.com)"}),
    ("Barracuda gateway", "GET", {"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"}),
    ("Mimecast", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Mimecast URL Protect"}),
    ("Proofpoint", "GET", {"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"}),
    ("Trend Micro", "GET", {"User-Agent": "Mozilla/5.0 (compatible; TrendMicro Web Reputation)"}),
    ("headless sandbox", "GET", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                                               "Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"}),
    ("Chrome prefetch", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
                                              "like Gecko) Chrome/120.0.0.0 Safari/537.36",
                                "Sec-Purpose": "prefetch;anonymous-client-ip"}),
    ("Chrome prerender", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                                               "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                                 "Sec-Purpose": "prefetch;prerender"}),
    ("Purpose prefetch", "GET", {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 "
                                               "(KHTML, like Gecko) Version/17.0 Safari/605.1.15",
                                 "Purpose": "prefetch"}),
    ("Safari preview", "GET", {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 "
                                             "Safari/604.1", "X-Purpose": "preview"}),
    ("Firefox prefetch", "GET", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
                                               "Firefox/121.0", "X-Moz": "prefetch"}),
    ("HEAD with a browser's agent", "HEAD", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
                                                           "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                                                           "Safari/537.36"}),
    ("curl", "GET", {"User-Agent": "curl/8.5.0"}),
    ("python-requests", "GET", {"User-Agent": "python-requests/2.31.0"}),
    ("no User-Agent", "GET", {"User-Agent": ""}),
    # Outlook Safe Links fetches with a browser's User-Agent: reported as a person's visit, yet it must not
    # acknowledge either, because no GET does
    ("Outlook Safe Links", "GET", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                                                 "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"}),
]

# people's browsers: a GET from these is reported as ``opened``, and they can press the button
BROWSERS: list[tuple[str, str]] = [
    ("Chrome on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.0.0 Safari/537.36"),
    ("Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
             "Safari/537.36 Edg/120.0.2210.61"),
    ("Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("Safari on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                         "Gecko) Version/17.0 Mobile/15E148 Safari/604.1"),
    ("Chrome on Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/120.0.6099.144 Mobile Safari/537.36"),
    ("Samsung Internet", "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"),
    ("CUBOT phone", "Mozilla/5.0 (Linux; Android 12; CUBOT P40) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/110.0.0.0 Mobile Safari/537.36"),
    ("Firefox on iOS", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                       "Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15"),
    ("Opera", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
              "Safari/537.36 OPR/105.0.0.0"),
    ("WhatsApp in-app browser", "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) "
                                "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile "
                                "Safari/537.36 WhatsApp/2.23.24.76"),
]
