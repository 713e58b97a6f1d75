/** Every config section, one line each, in parse order (a section may read those before it). */
import { registerConfigSection } from '../registry.js';
import { authSection } from './auth.js';
import { backendsSection } from './backends.js';
import { recoverySection } from './recovery.js';
import { routesSection } from './routes.js';
import { serverSection } from './server.js';
import { jwtSection } from './jwt.js';
import { secretsSection } from './secrets.js';
import { rateLimitsSection } from './rate-limits.js';
import { corsSection } from './cors.js';
import { securityHeadersSection } from './security-headers.js';

registerConfigSection(serverSection);
registerConfigSection(authSection);
registerConfigSection(backendsSection);
registerConfigSection(routesSection);
registerConfigSection(jwtSection);
registerConfigSection(secretsSection);
registerConfigSection(rateLimitsSection);
registerConfigSection(corsSection);
registerConfigSection(securityHeadersSection);
registerConfigSection(recoverySection);
