// An HTTP component in TypeScript, made with `bourse new ts-http`. It answers every route the
// manifest gives it (`/__NAME__/...`); `bourse build` compiles it with jco into a WebAssembly
// component.

addEventListener("fetch", (event: FetchEvent) => event.respondWith(handle(event.request)));

async function handle(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const answer = {
    component: "__NAME__",
    method: request.method,
    path: url.pathname,
  };
  return new Response(JSON.stringify(answer), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

// The fetch event as StarlingMonkey dispatches it (the engine serves the component's HTTP
// handler through it).
interface FetchEvent extends Event {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}
