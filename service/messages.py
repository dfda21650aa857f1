"""Error messages of the API (one place, asserted verbatim by the tests)."""

MISSING_KEY = "Clé d'API absente ou invalide (en-tête X-API-Key)."
FORBIDDEN = "Cette clé d'API n'a pas le rôle requis pour cette route."
RATE_LIMITED = "Trop de requêtes pour cette clé : réessayez après le délai indiqué (Retry-After)."
MODEL_UNAVAILABLE = "Le modèle demandé n'est pas chargé : réessayez plus tard ou contactez l'administrateur."
INVALID_REQUEST = "Requête invalide : voir le détail des champs."
NO_VALID_RECORD = "Aucun enregistrement valide dans la requête : voir les erreurs par enregistrement."
UNKNOWN_CODE = "Code d'activité ou de commune inconnu : voir les codes proches."
BAD_CSV = (
    "Fichier CSV illisible : une ligne d'en-tête, un séparateur , ; tabulation ou | et du texte UTF-8 "
    "sont attendus."
)
UNKNOWN_MODEL = "Modèle inconnu : la liste des modèles servis est donnée par GET /v1/models."
INVALID_RELATED = "Table associée invalide (par exemple les contrats passés) : voir les erreurs par ligne."
NOT_FOUND = "Ressource introuvable."
SIGN_IN_REQUIRED = "Connexion requise : ouvrez /diagnostic et saisissez votre clé."
