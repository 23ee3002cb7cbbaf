// Package web is the human approval page that `walletmcp serve` hosts on
// loopback. A pending approval gets an unguessable link
// (http://127.0.0.1:PORT/a/<id>/<token>); opening it shows the full summary of
// the transfer, with the recipient's last six hex characters highlighted, a
// field for the 6-digit TOTP code and Approve / Reject buttons. The page is
// plain server-rendered HTML: two <form method=post> and no JavaScript at all.
// The decision itself is made by a Decider (the pending-approval service);
// this package only shows it and forwards the human's answer.
//
// # Security model
//
// The agent cannot reach this page's decision: approving needs the link (which
// the agent may see), a fresh CSRF token from a page render, a same-origin
// browser request and the human's TOTP code, which only the Decider checks.
// The server fails closed at every step:
//
//   - It listens on a loopback address only; anything else is refused by New
//     and again after the listener is bound.
//   - The Host header must be exactly the server's own 127.0.0.1:PORT (or
//     [::1]:PORT) or localhost:PORT, so a DNS-rebinding page cannot talk to it
//     under a foreign name (421).
//   - A POST needs an Origin equal to the server's own origin, or, only when
//     Origin is absent, a Referer with that origin; neither, or "null", is
//     refused (403). There are no CORS headers, ever; OPTIONS is 405.
//   - Each render issues a random CSRF token bound to the approval id, valid
//     for a few minutes and usable once; it is compared in constant time. A
//     missing, wrong, foreign, expired or reused token is refused (403).
//   - The agent may hold the link and can post codes like a browser, so
//     codes are rate limited where they are checked (approval/totp, through
//     the Decider): a few wrong codes lock this approval's link, more over
//     all links lock the page's codes for a while, each lockout a security
//     event; the human's terminal (`walletmcp approve`) is never locked.
//     The page says how many tries are left and until when it is locked, in
//     sentences without internal error prefixes.
//   - A wrong link (unknown id or wrong token) is a generic 404 that does not
//     say which part was wrong. A decided or expired approval shows its state
//     and no form; a POST to it is 409.
//   - Every response carries a strict Content-Security-Policy (no scripts, no
//     remote resources of any kind, the one inline style allowed by its
//     SHA-256 hash, forms only to this origin, no framing), X-Frame-Options
//     DENY, nosniff and Cache-Control no-store. Pages without a form send
//     Referrer-Policy no-referrer; pages with a form send same-origin, because
//     under no-referrer browsers send "Origin: null" with a form POST (Fetch
//     standard), which the Origin check must refuse. Either way the link is
//     never sent to another origin, and the page links to none.
//   - Request bodies are limited to 4 KiB, headers to 8 KiB, and every
//     request has read, write and handler time limits.
//   - Everything shown goes through html/template. The summary is checked for
//     consistency (the highlighted tail must be the recipient's own last six
//     characters) before a form is shown.
//   - Logs name the approval id and the outcome, never the link token, the
//     CSRF token or the code.
package web
