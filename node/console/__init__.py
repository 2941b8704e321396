"""The operator console: a web page served by the node on its control listener (``/console``), written in plain
HTML, CSS and JavaScript modules shipped in ``assets/`` (no CDN, no build step, nothing fetched from elsewhere),
that draws its charts itself as SVG. Everything it shows comes from the control API with the API key."""
