// swagger-ui-dist ships a prebuilt bundle without types; this is the part the API page uses.
declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  interface SwaggerRequest {
    url: string;
    headers: Record<string, string>;
  }
  interface SwaggerOptions {
    url: string;
    domNode: HTMLElement;
    deepLinking?: boolean;
    validatorUrl?: string | null;
    docExpansion?: "list" | "full" | "none";
    defaultModelsExpandDepth?: number;
    requestInterceptor?: (request: SwaggerRequest) => SwaggerRequest;
  }
  const SwaggerUIBundle: (options: SwaggerOptions) => unknown;
  export default SwaggerUIBundle;
}
declare module "swagger-ui-dist/swagger-ui.css";
