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
    const found = await response.json();
    // Answers may come back out of order: show only those for the text the field still holds.
    if (field.value.trim() !== q) return;
    const options = document.getElementById(list);
    options.replaceChildren(...found.map(c => {
      const o = document.createElement("option"); o.value = c.display; return o; }));
  });
}
