// Enhancement only: shows the chosen picture before it is uploaded, and
// refuses one over the upload limit before sending it (the server's answer
// says the same, but a phone photo of many megabytes would be sent first).
// The form works the same without it.
const input = document.querySelector('#picture');
const preview = document.querySelector('#picture-preview');
if (input instanceof HTMLInputElement && preview instanceof HTMLImageElement) {
  const maxBytes = Number(input.dataset.maxBytes);
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    const tooLarge = file !== undefined && maxBytes > 0 && file.size > maxBytes;
    input.setCustomValidity(tooLarge ? (input.dataset.tooLarge ?? '') : '');
    if (tooLarge) input.reportValidity();
    if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
    // A refused file is not previewed: a preview reads as accepted.
    if (file?.type.startsWith('image/') && !tooLarge) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.removeAttribute('src');
      preview.hidden = true;
    }
  });
}
