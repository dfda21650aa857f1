for (const [input, list, url] of [["activite", "activites", "suggestions/activites"],
                                  ["commune", "communes", "suggestions/communes"]]) {
  const field = document.getElementById(input);
  let last = "";
  field.addEventListener("input", async () => {
    const q = field.value.trim();
    if (q.length < 2 || q === last || q.includes("·")) return;
    last = q;
    const response = await fetch(`/diagnostic/${url}?q=${encodeURIComponent(q)}`);
    if (!response.ok) return;
    const options = document.getElementById(list);
    options.replaceChildren(...(await response.json()).map(c => {
      const o = document.createElement("option"); o.value = c.display; return o; }));
  });
}
