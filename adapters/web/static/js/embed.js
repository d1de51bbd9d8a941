// The chat on a customer's own website: <script src="https://acd.example.com/static/js/embed.js" data-queue="sales" async></script>
// adds a button that opens the ACD's /chat page in a frame (the site must be
// in the ACD's [limits] allowed_origins, which may frame it). A site whose
// visitor is logged in adds data-identity-token="<HS256 JWT its backend signed>"
// (docs/protocol.md): it travels in the frame's fragment, never to a server log.
(() => {
  const me = document.currentScript;
  const base = new URL(me.src).origin;
  const queue = me.dataset.queue ? `?queue=${encodeURIComponent(me.dataset.queue)}` : "";
  const token = me.dataset.identityToken ? `#identity_token=${encodeURIComponent(me.dataset.identityToken)}` : "";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = me.dataset.label || "Chat";
  button.style.cssText = "position:fixed;right:1rem;bottom:1rem;z-index:2147483000;padding:.7rem 1.1rem;border-radius:2rem;border:0;background:#1f5fbf;color:#fff;font:inherit;cursor:pointer";
  let frame = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = `${base}/chat${queue}${token}`;
      frame.title = button.textContent;
      frame.style.cssText = "position:fixed;right:1rem;bottom:4.5rem;width:min(24rem,92vw);height:min(36rem,75vh);border:1px solid #ccd;border-radius:.6rem;z-index:2147483000;background:#fff";
      document.body.append(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
  });
  document.body.append(button);
})();
