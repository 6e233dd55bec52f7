declare module 'virtual:errors-catalogue' {
  const rows: { code: string; status: string; meaning: string; cause: string; fix: string; area: string }[];
  export default rows;
}
