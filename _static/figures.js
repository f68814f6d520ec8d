// Every figure image opens at full size when tapped or clicked: on a phone a figure drawn for
// the desktop column is shrunk, and its labels are read best at full size.
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("figure img, div.cell_output img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.src;
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
  }
});
