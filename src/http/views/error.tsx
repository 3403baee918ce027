import { Layout } from './layout.tsx';
import { sentence } from './render.ts';

export interface ErrorPageProps {
  title: string;
  message: string;
  /** Where to go from here. */
  link?: { href: string; text: string };
}

export function ErrorPage({
  title,
  message,
  link = { href: '/', text: 'Go to the start page' },
}: ErrorPageProps) {
  return (
    <Layout title={title}>
      <h1>{title}</h1>
      <p class="message error" role="alert">
        {sentence(message)}
      </p>
      <p>
        <a href={link.href}>{link.text}</a>
      </p>
    </Layout>
  );
}
