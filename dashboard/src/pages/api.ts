// API: the host's OpenAPI description (/api/openapi.json: the host's routes and each
// component's own), rendered by Swagger UI. Its code loads only when this page opens.
// "Try it out" sends the signed-in user's credentials.

import { h, fill } from "../dom";
import * as session from "../session";
import type { Render } from "../page";

export const render: Render = (root) => {
  const box = h("div", { class: "card api-docs", "data-testid": "api-docs" });
  const status = h("p", { class: "muted" }, "Loading the description…");
  fill(
    root,
    h("h1", {}, "API"),
    h(
      "p",
      {},
      "Every route this host serves, from its OpenAPI 3.1 description ",
      h("a", { href: "/api/openapi.json" }, "/api/openapi.json"),
      ": the host's own, and each component's as it describes itself (a hot swap updates it).",
    ),
    status,
    box,
  );
  let gone = false;
  Promise.all([import("swagger-ui-dist/swagger-ui-es-bundle.js"), import("swagger-ui-dist/swagger-ui.css")])
    .then(([{ default: SwaggerUI }]) => {
      if (gone) return;
      status.remove();
      SwaggerUI({
        url: "/api/openapi.json",
        domNode: box,
        // Swagger UI's deep links are hash routes, which are the dashboard's own.
        deepLinking: false,
        // Otherwise it sends the description's address to validator.swagger.io for a badge.
        validatorUrl: null,
        docExpansion: "list",
        defaultModelsExpandDepth: 0,
        requestInterceptor: (request) => {
          const token = session.accessToken();
          if (token && !request.headers.Authorization) request.headers.Authorization = `Bearer ${token}`;
          return request;
        },
      });
    })
    .catch((e: unknown) => {
      if (!gone) fill(status, `The API description could not be shown: ${String(e)}`);
    });
  return () => {
    gone = true;
  };
};
