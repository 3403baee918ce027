// Enhancement only: shows the chosen picture before it is uploaded, and
// refuses one over the upload limit before sending it (the server's answer
// says the same, but a phone photo of many megabytes would be sent first).
// The form works the same without it.
const input = document.querySelector('#picture');
const preview = document.querySelector('#picture-preview');
if (input instanceof HTMLInputElement && preview instanceof HTMLImageElement) {
  const maxBytes = Number(input.dataset.maxBytes);
  // What the server takes (the input's accept list): a preview of anything else (an
  // AVIF, an SVG) read as accepted, and the upload was then refused.
  const accepted = new Set(input.accept.split(',').map((type) => type.trim()));
  // A file the browser cannot show (a text file named .jpg, an empty one) is not
  // previewed either: a broken image with a cut-off label read as an error of the page.
  preview.addEventListener('error', () => {
    preview.removeAttribute('src');
    preview.hidden = true;
  });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    const tooLarge = file !== undefined && maxBytes > 0 && file.size > maxBytes;
    input.setCustomValidity(tooLarge ? (input.dataset.tooLarge ?? '') : '');
    if (tooLarge) input.reportValidity();
    if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
    // A refused file is not previewed: a preview reads as accepted.
    if (file !== undefined && accepted.has(file.type) && file.size > 0 && !tooLarge) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.removeAttribute('src');
      preview.hidden = true;
    }
  });
}

// The start of each session in the reader's own time zone and words; without the
// script (and in its title) the page says it in UTC, the same for every reader.
for (const time of document.querySelectorAll('#sessions time[datetime]')) {
  const at = new Date(time.getAttribute('datetime') ?? '');
  if (Number.isNaN(at.getTime())) continue;
  time.title = time.textContent ?? '';
  time.textContent = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
