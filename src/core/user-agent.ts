/**
 * The browser and system a User-Agent names, in the few words a list of
 * sessions shows ("Firefox 128", "Windows"). Coarse on purpose: the
 * header is whatever the client chose to send, so this is a hint for the
 * user, never an identity. The order of the rules matters: Edge and Opera
 * also say "Chrome", Chrome also says "Safari", an iPad also says "Mac OS X".
 */

const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\b(?:OPR|Opera)\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bChromium\/(\d+)/, 'Chromium'],
  [/(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\bWindows NT\b/, 'Windows'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\b(?:Macintosh|Mac OS X)\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** A program that names itself first, as curl/8.5.0 or python-requests/2.31 do. */
const PRODUCT = /^([A-Za-z][\w.-]{0,39})\/(\d+(?:\.\d+)?)/;

export interface Software {
  /** e.g. "Firefox 128"; '' when not recognised. */
  browser: string;
  /** e.g. "Windows"; '' when not recognised. */
  system: string;
}

export function describeUserAgent(userAgent: string): Software {
  let browser = '';
  for (const [pattern, name] of BROWSERS) {
    const match = pattern.exec(userAgent);
    if (match !== null) {
      browser = `${name} ${match[1]}`;
      break;
    }
  }
  if (browser === '' && !userAgent.startsWith('Mozilla/')) {
    const product = PRODUCT.exec(userAgent);
    if (product !== null) browser = `${product[1]} ${product[2]}`;
  }
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1] ?? '';
  return { browser, system };
}
