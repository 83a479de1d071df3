// The build and the tests load `*.pl` files as their text (tsup's text loader; vitest.shared.ts).
declare module "*.pl" {
  const source: string;
  export default source;
}
