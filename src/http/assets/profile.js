// Enhancement only: shows the chosen picture before it is uploaded. The form
// works the same without it.
const input = document.querySelector('#picture');
const preview = document.querySelector('#picture-preview');
if (input instanceof HTMLInputElement && preview instanceof HTMLImageElement) {
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
    if (file?.type.startsWith('image/')) {
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    } else {
      preview.removeAttribute('src');
      preview.hidden = true;
    }
  });
}
